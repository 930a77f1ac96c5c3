//! The protobuf codec of leadqual's services: prost's, except that a request
//! that is not valid protobuf of its type is the caller's mistake,
//! `INVALID_ARGUMENT` naming the request, rather than prost's `INTERNAL`.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use crate::domain::Violation;

/// [`ProstCodec`] with [`RequestDecoder`]; `build.rs` names it as the codec
/// of the generated services and clients.
#[derive(Debug, Clone, Copy)]
pub struct LeadqualCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LeadqualCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for LeadqualCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(ProstCodec::<T, U>::default().decoder())
    }
}

/// Decodes like prost; a request message (one whose type is named
/// `…Request`, as every RPC's input is) that fails to decode is
/// `INVALID_ARGUMENT`. A response that fails to decode, which a client of
/// this crate would see, stays `INTERNAL`: that is the server's fault.
#[derive(Debug)]
pub struct RequestDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            let name = message_name::<U>();
            if name.ends_with("Request") {
                super::status::invalid_argument(&[Violation::new(
                    "request",
                    format!(
                        "not a valid {name} message: {}",
                        // prost's own text, without the type path it repeats.
                        status.message()
                    ),
                )])
            } else {
                status
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The message's own name, without its module path.
fn message_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::v1 as pb;

    #[test]
    fn every_rpc_takes_a_message_named_as_a_request() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes");
        for method in set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .flat_map(|s| &s.method)
        {
            assert!(method.input_type().ends_with("Request"), "{method:?}");
            assert!(!method.output_type().ends_with("Request"), "{method:?}");
        }
        assert_eq!(
            message_name::<pb::QualifyLeadRequest>(),
            "QualifyLeadRequest"
        );
    }
}
