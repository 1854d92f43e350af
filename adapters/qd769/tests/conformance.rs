//! Both adapter kinds against the simulator, through the shared conformance suite, in three
//! renderings: a direct 769 CA with the non-default options (base64 digests, nested file
//! options, VNPT's chain object, custom paths); a direct 769 CA that signs synchronously with
//! the default rendering; and the NEAC gateway routing by `ca_name`, with a token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_testkit::{Decision, Fault};
use kyso_sim_qd769::{Behaviour, CaSpec, CitizenSpec, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
const SP_ID: &str = "conformance-sp";
const SP_PASSWORD: &str = "conformance-secret";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

fn citizen() -> CitizenSpec {
    CitizenSpec::new(CITIZEN, "Nguyễn Văn An", Behaviour::Manual)
}

fn decide_next(sim: &SimHandle, decision: Decision) {
    let behaviour = match decision {
        Decision::Approve => Behaviour::ApproveAfter(Duration::from_millis(100)),
        Decision::Reject => Behaviour::RejectAfter(Duration::from_millis(100)),
        Decision::Expire => Behaviour::ExpireAfter(Duration::from_millis(100)),
    };
    sim.control().set_behaviour(CITIZEN, behaviour).unwrap();
}

fn fail_next(sim: &SimHandle, fault: Fault) {
    sim.control().fail_next(match fault {
        Fault::Unavailable => kyso_sim_qd769::Fault::Status(503),
        Fault::Garbage => kyso_sim_qd769::Fault::Garbage,
        Fault::Hang => kyso_sim_qd769::Fault::Hang(REQUEST_TIMEOUT * 3),
    });
}

/// The ConformanceTarget plumbing shared by the three targets; each differs only in `start`.
macro_rules! target_plumbing {
    () => {
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
            crate::decide_next(&self.sim, decision);
        }

        fn fail_next(&self, fault: Fault) {
            crate::fail_next(&self.sim, fault);
        }

        fn corrupt_next_signature(&self) {
            self.sim.control().corrupt_next_signature();
        }

        fn sign_next_with_foreign_key(&self) {
            self.sim.control().sign_next_with_foreign_key();
        }

        /// 769 and NEAC have no sessions: the credential travels in every request.
        fn expire_session(&self) -> bool {
            false
        }
    };
}

/// A direct CA with every non-default rendering option, asynchronous.
mod direct_base64_nested {
    use async_trait::async_trait;
    use kyso_adapter_core::CaAdapter;
    use kyso_adapter_qd769::{
        ChainDataShape, FileOptionsLayout, HashEncoding, Qd769Kind, Qd769Settings,
    };
    use kyso_adapter_testkit::{
        ConformanceTarget, Decision, Fault, build_adapter, conformance_tests,
    };
    use kyso_sim_qd769::{ChainLayout, SimHandle, SimPaths};

    use super::*;

    struct DirectBase64Nested {
        sim: SimHandle,
        adapter: Arc<dyn CaAdapter>,
    }

    #[async_trait]
    impl ConformanceTarget for DirectBase64Nested {
        async fn start() -> Self {
            let mut config = SimConfig::qd769(
                SP_ID,
                SP_PASSWORD,
                CaSpec::new("BKAV-CA", vec![citizen()])
                    .with_hash_encoding(kyso_sim_qd769::HashEncoding::Base64),
            );
            config.file_options = kyso_sim_qd769::FileOptionsLayout::Nested;
            config.chain_data = ChainLayout::Object;
            config.paths = SimPaths {
                get_certificate: "/api/769/certificates".into(),
                sign: "/api/769/signatures".into(),
                status: "/api/769/transactions/{transaction_id}".into(),
            };
            let sim = kyso_sim_qd769::spawn(config).await.unwrap();
            let mut settings =
                Qd769Settings::new(sim.base_url(), SP_ID, SP_PASSWORD.to_owned().into());
            settings.hash_encoding = HashEncoding::Base64;
            settings.file_options = FileOptionsLayout::Nested;
            settings.chain_data = ChainDataShape::Object;
            settings.get_certificate_path = "/api/769/certificates".into();
            settings.sign_path = "/api/769/signatures".into();
            settings.status_path = Some("/api/769/transactions/{transaction_id}".into());
            let adapter = build_adapter::<Qd769Kind>(settings, REQUEST_TIMEOUT);
            Self { sim, adapter }
        }

        target_plumbing!();
    }

    conformance_tests!(DirectBase64Nested);
}

/// A direct CA with the default rendering that answers `sign` only once the citizen decided.
mod direct_synchronous {
    use async_trait::async_trait;
    use kyso_adapter_core::CaAdapter;
    use kyso_adapter_qd769::{Qd769Kind, Qd769Settings};
    use kyso_adapter_testkit::{
        ConformanceTarget, Decision, Fault, build_adapter, conformance_tests,
    };
    use kyso_sim_qd769::{SignMode, SimHandle};

    use super::*;

    struct DirectSynchronous {
        sim: SimHandle,
        adapter: Arc<dyn CaAdapter>,
    }

    #[async_trait]
    impl ConformanceTarget for DirectSynchronous {
        async fn start() -> Self {
            let mut config =
                SimConfig::qd769(SP_ID, SP_PASSWORD, CaSpec::new("CA2", vec![citizen()]));
            config.sign_mode = SignMode::Sync;
            let sim = kyso_sim_qd769::spawn(config).await.unwrap();
            let adapter = build_adapter::<Qd769Kind>(
                Qd769Settings::new(sim.base_url(), SP_ID, SP_PASSWORD.to_owned().into()),
                REQUEST_TIMEOUT,
            );
            Self { sim, adapter }
        }

        target_plumbing!();
    }

    conformance_tests!(DirectSynchronous);
}

/// NEAC with two CAs behind it (the citizen holds a certificate at both), reached with a token
/// for the one that takes base64 digests.
mod neac {
    use async_trait::async_trait;
    use kyso_adapter_core::CaAdapter;
    use kyso_adapter_qd769::{HashEncoding, NeacCredential, NeacKind, NeacSettings};
    use kyso_adapter_testkit::{
        ConformanceTarget, Decision, Fault, build_adapter, conformance_tests,
    };
    use kyso_sim_qd769::SimHandle;

    use super::*;

    const TOKEN: &str = "conformance-token";

    struct Neac {
        sim: SimHandle,
        adapter: Arc<dyn CaAdapter>,
    }

    #[async_trait]
    impl ConformanceTarget for Neac {
        async fn start() -> Self {
            let mut config = SimConfig::neac(
                SP_ID,
                SP_PASSWORD,
                vec![
                    CaSpec::new("BKAV-CA", vec![citizen()]),
                    CaSpec::new("FPT-CA", vec![citizen()])
                        .with_hash_encoding(kyso_sim_qd769::HashEncoding::Base64),
                ],
            );
            config.token = Some(TOKEN.to_owned());
            let sim = kyso_sim_qd769::spawn(config).await.unwrap();
            let mut settings = NeacSettings::new(
                sim.base_url(),
                SP_ID,
                NeacCredential::Token(TOKEN.to_owned().into()),
                "FPT-CA",
            );
            settings.hash_encoding = HashEncoding::Base64;
            let adapter = build_adapter::<NeacKind>(settings, REQUEST_TIMEOUT);
            Self { sim, adapter }
        }

        target_plumbing!();
    }

    conformance_tests!(Neac);
}
