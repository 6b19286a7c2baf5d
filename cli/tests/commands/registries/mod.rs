//! The registry kinds and what every kind must do: `http` (one
//! `index.json` over HTTPS), `local` (a path, through the split cache),
//! `sparse`, `git`, `signed` (TUF), and the rules across them: `priority`,
//! `tls`, `tokens`, `url_policy`, `index_limits`, the servers of real
//! networks (`network`: HTTP/2 streams, small servers, GOAWAY), and what
//! knap says of a registry it cannot reach (`unreachable`).

mod credentials;
mod git;
mod git_cache;
mod http;
mod index_limits;
mod local;
mod network;
mod priority;
mod signed;
pub(crate) mod sparse;
mod tls;
mod tokens;
mod unreachable;
mod url_policy;
