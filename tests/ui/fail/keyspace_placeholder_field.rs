cache_runtime::keyspace!(SESSIONS: String = "session:{user.id}", ttl = "30m");

fn main() {}
