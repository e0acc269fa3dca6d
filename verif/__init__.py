"""cocotb testbenches and their pytest runners."""
