//! eloy-stack (under construction).
