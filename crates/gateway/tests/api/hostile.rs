//! What a hostile or careless client sends, refused in the API's words with our error body:
//! characters the databases cannot hold, bodies that are not JSON objects, requests hyper
//! cannot parse, bodies too large or too slow, twins of an email, floods past the rate limit.

mod database_crash;
mod database_outage;
mod flood;
mod framing;
mod identity;
mod inputs;
mod last_admin;
