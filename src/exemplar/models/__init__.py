"""The models: scikit-learn's MLP and its helpers, the numpy trainer, wrappers, exactly combined statistics models."""
