"""Facts of the MNIST dataset the declarations need before any file is read."""

#: Images per digit in MNIST's train and test splits (digits 0-9). Checked against the
#: loaded files in the integration tests; they bound the counts a task may ask for.
TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
