"""Work beside the requests: callback delivery and background settlement."""
