"""scikit-learn estimators over vaekit models: ``from vaekit.sklearn import AutoencoderTransformer``
(the anomaly detector is ``vaekit.AnomalyDetector``).

The public name of vaekit.interop.sklearn, where the estimator lives beside the other
interoperation.
"""

from vaekit.interop.sklearn import AutoencoderTransformer

__all__ = ["AutoencoderTransformer"]
