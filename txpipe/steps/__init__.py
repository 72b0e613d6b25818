"""Built-in pipeline steps, registered in pipeline order when this package is imported."""
