//! Reporting: what people and CI see of a run.
