//! Synthetic dataset generator.
