use cache_runtime::{cached, Policy};

#[cached(key = "user:{id:lower}", ttl = Policy::UserSession)]
async fn user(id: u64) -> String {
    id.to_string()
}

fn main() {}
