"""A target whose import raises an error with a two-line message."""


class Boom(Exception):
    pass


raise RuntimeError("target exploded at import\nsecond line of the message")
