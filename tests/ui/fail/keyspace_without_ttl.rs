cache_runtime::keyspace!(SESSIONS: String = "session:{user_id}");

fn main() {}
