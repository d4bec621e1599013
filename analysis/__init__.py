"""Statistics for citizen-satisfaction data: intervals, indices and fair comparisons.

This package never imports Flask. It works on pandas DataFrames, count arrays and plain
numbers, so an analyst can use it on an open-data download.
"""
