//! eloy-viz (under construction).
