//! What the HTTP tests of the review API and the console share.

/// Makes a jingtu client once, which installs the TLS provider reqwest needs even for plain
/// HTTP.
pub fn install_tls(url: &str) {
    jingtu_client::Client::new(url, "jt_none", jingtu_client::ClientOptions::default())
        .expect("a client");
}

/// `NAME=VALUE` of the cookie `name` an answer sets.
pub fn set_cookie(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with(&format!("{name}=")))
        .map(str::to_string)
}
