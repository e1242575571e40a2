//! eloy-calib (under construction).
