//! `GET /v1/providers`: the configured CAs and what they support.

use actix_web::web;

use crate::http::views::{CapabilitiesView, ProviderList, ProviderView};
use crate::services::Signing;
use crate::services::auth::Principal;

pub(crate) async fn list(_: Principal, signing: web::Data<Signing>) -> web::Json<ProviderList> {
    let providers = signing
        .providers()
        .iter()
        .map(|provider| {
            let descriptor = provider.descriptor();
            ProviderView {
                id: descriptor.id.clone(),
                kind: descriptor.kind.to_owned(),
                display_name: descriptor.display_name.clone(),
                status: provider.status().into(),
                circuit: provider.circuit_state().into(),
                capabilities: CapabilitiesView {
                    hash_algorithms: descriptor.capabilities.hash_algorithms.clone(),
                    key_algorithms: descriptor.capabilities.key_algorithms.clone(),
                    max_documents: descriptor.capabilities.max_documents,
                    cancel: descriptor.capabilities.cancel,
                },
            }
        })
        .collect();
    web::Json(ProviderList { providers })
}
