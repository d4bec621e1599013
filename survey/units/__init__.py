"""The unit tree as the database sees it (subtrees by one recursive query) and what a signed-in user may see."""
