"""Training-data selection: score every pair, keep a good and diverse subset, and test whether it helped."""
