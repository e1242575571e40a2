"""Python eloy 0.0.11's ``eloy.viz.z_scale``, computed by eloy-viz.

``z_scale(data, c=0.05)`` returns astropy's ``ZScaleInterval(contrast=c)(data)``: the
image rescaled to [0, 1] between its zscale limits, clipped. The limits alone are
:func:`eloy_rs.zscale_limits`.
"""

from eloy_rs._eloy_rs import z_scale

__all__ = ["z_scale"]
