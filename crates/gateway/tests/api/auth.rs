//! Tests: auth.
#[allow(unused_imports)]
use crate::helpers::*;
