"""The ModelHub contributor API: base classes a model package derives from.

Names keep their historical camelCase spelling so that packages written for the
original ModelHub engine run unchanged.
"""
