"""The service framework: what a service author writes against."""
