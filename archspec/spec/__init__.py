"""Reading and checking spec files: ``loader`` (stage 1), ``validate`` (stage 2), ``expand``."""
