//! The registry kinds and what every kind must do: `http` (one
//! `index.json` over HTTPS), `sparse`, `git`, `signed` (TUF), and the
//! rules across them: `priority`, `tls`, `tokens`, `url_policy`,
//! `index_limits`, and what knap says of a registry it cannot reach
//! (`unreachable`).

mod git;
mod http;
mod index_limits;
mod priority;
mod signed;
pub(crate) mod sparse;
mod tls;
mod tokens;
mod unreachable;
mod url_policy;
