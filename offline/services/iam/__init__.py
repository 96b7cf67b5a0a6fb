"""IAM, evaluated offline as AWS evaluates it."""
