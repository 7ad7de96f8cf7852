//! Tests: admin.
#[allow(unused_imports)]
use crate::helpers::*;
