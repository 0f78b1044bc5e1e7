use cache_runtime::{keyspace, Policy, Update};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Tariff {
    vat: f64,
}

keyspace!(
    /// Tariffs by country and provider.
    pub TARIFFS: Tariff = "tariff:{country:upper}:{provider}", ttl = Policy::FinancialData
);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Without a cache: reads answer `None`, writes `false`.
    assert!(TARIFFS.get("es", "Iberdrola").await.is_none());
    assert!(!TARIFFS.set("es", String::from("Iberdrola"), &Tariff { vat: 0.21 }).await);
    assert!(!TARIFFS.touch("es", "x").await);
    let update = TARIFFS.update("es", 7, |tariff| tariff).await;
    assert!(matches!(update, Update::Failed));
}
