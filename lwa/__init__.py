"""lwa: AWS Lambda Web Adapter in Python. Importing the package loads nothing else."""

__version__ = "0.1.0"
