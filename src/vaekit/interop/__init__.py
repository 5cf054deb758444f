"""Interoperation: scikit-learn estimators (``sklearn``), ONNX / TorchScript export (``export``)
and the Hugging Face Hub upload (``hub``)."""
