"""A target that imports a module that does not exist."""

import actionsec_no_such_module  # noqa: F401
