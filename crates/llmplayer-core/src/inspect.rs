//! Model summary (in progress).
