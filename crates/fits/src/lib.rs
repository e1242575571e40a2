//! eloy-fits (under construction).
