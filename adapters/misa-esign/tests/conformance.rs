//! The MISA eSign adapter against its simulator, through the shared conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::CaAdapter;
use kyso_adapter_misa::{MisaKind, MisaSettings};
use kyso_adapter_testkit::{ConformanceTarget, Decision, Fault, build_adapter, conformance_tests};
use kyso_sim_misa::{Behaviour, CitizenSpec, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

struct Misa {
    sim: SimHandle,
    adapter: Arc<dyn CaAdapter>,
}

#[async_trait]
impl ConformanceTarget for Misa {
    async fn start() -> Self {
        let config = SimConfig {
            client_id: "conformance-client".into(),
            client_key: "conformance-client-key".into(),
            username: "conformance-integrator".into(),
            password: "conformance-password".into(),
            otp_code: None,
            citizens: vec![CitizenSpec::new(
                CITIZEN,
                "Nguyễn Văn An",
                Behaviour::Manual,
            )],
            token_lifetime: kyso_sim_misa::DEFAULT_TOKEN_LIFETIME,
            transaction_ttl: Duration::from_secs(300),
        };
        let sim = kyso_sim_misa::spawn(config).await.unwrap();
        let adapter = build_adapter::<MisaKind>(
            MisaSettings {
                base_url: sim.base_url(),
                auth_base_url: None,
                client_id: "conformance-client".into(),
                client_key: "conformance-client-key".to_owned().into(),
                username: "conformance-integrator".into(),
                password: "conformance-password".to_owned().into(),
            },
            REQUEST_TIMEOUT,
        );
        Self { sim, adapter }
    }

    fn adapter(&self) -> &dyn CaAdapter {
        &*self.adapter
    }

    fn citizen(&self) -> &str {
        CITIZEN
    }

    fn trust_anchors_pem(&self) -> String {
        self.sim.root_certificate_pem()
    }

    fn decide_next(&self, decision: Decision) {
        let after = Duration::from_millis(100);
        let behaviour = match decision {
            Decision::Approve => Behaviour::ApproveAfter(after),
            Decision::Reject => Behaviour::RejectAfter(after),
            Decision::Expire => Behaviour::ExpireAfter(after),
        };
        self.sim
            .control()
            .set_behaviour(CITIZEN, behaviour)
            .unwrap();
    }

    fn fail_next(&self, fault: Fault) {
        self.sim.control().fail_next(match fault {
            Fault::Unavailable => kyso_sim_misa::Fault::Status(503),
            Fault::Garbage => kyso_sim_misa::Fault::Garbage,
            Fault::Hang => kyso_sim_misa::Fault::Hang(REQUEST_TIMEOUT * 3),
        });
    }

    fn corrupt_next_signature(&self) {
        self.sim.control().corrupt_next_signature();
    }

    fn sign_next_with_foreign_key(&self) {
        self.sim.control().sign_next_with_foreign_key();
    }

    /// MISA's access tokens expire: the simulator refuses every token issued so far.
    fn expire_session(&self) -> bool {
        self.sim.control().expire_access_tokens() > 0
    }
}

conformance_tests!(Misa);
