//! The registry kinds and what every kind must do: `http` (one
//! `index.json` over HTTPS), `sparse`, `git`, `signed` (TUF), and the
//! rules across them: `priority`, `tls`, `tokens`, `url_policy`,
//! `index_limits`.

mod git;
mod http;
mod index_limits;
mod priority;
mod signed;
mod sparse;
mod tls;
mod tokens;
mod url_policy;
