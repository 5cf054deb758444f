"""What a trained model is used for; each task is a plain function over a model and tensors."""
