//! The whole TX datapath for one gathered frame: validate, then send as is, insert checksums,
//! or segment.

use hw_spec::offload::TsoFlagMasks;
use hw_spec::{DeviceCaps, ErrorCode, TxOffloadRequest, TxPlan, validate_tx_request};

use super::{tso, tx_csum};

/// Processes one TX request. `frame` is the frame gathered from the request's buffers (its
/// checksum fields are overwritten in place when checksums are inserted); `emit` receives each
/// wire frame in order. `scratch` must hold `MAX_FRAME_LEN` bytes (only TSO uses it).
///
/// On error nothing is emitted (hw-spec: a failed request sends nothing).
pub fn process<E: FnMut(&[u8])>(
    frame: &mut [u8],
    req: &TxOffloadRequest,
    caps: &DeviceCaps,
    masks: &TsoFlagMasks,
    scratch: &mut [u8],
    mut emit: E,
) -> Result<TxPlan, ErrorCode> {
    let mut headers = [0u8; tso::HEADER_SCRATCH];
    process_split(frame, req, caps, masks, &mut headers, |h, payload| {
        if payload.is_empty() {
            emit(h);
        } else {
            let out = &mut scratch[..h.len() + payload.len()];
            out[..h.len()].copy_from_slice(h);
            out[h.len()..].copy_from_slice(payload);
            emit(out);
        }
    })
}

/// [`process`] for a sink that takes each wire frame in two pieces, headers then payload (see
/// [`tso::segment_split`]): TSO segments are not assembled, so their payload is not copied.
/// A frame sent whole (no TSO) comes as the frame and an empty payload. `headers` must hold
/// [`tso::HEADER_SCRATCH`] bytes (only TSO uses it).
///
/// On error nothing is emitted. The bytes on the wire are exactly [`process`]'s.
pub fn process_split<E: FnMut(&[u8], &[u8])>(
    frame: &mut [u8],
    req: &TxOffloadRequest,
    caps: &DeviceCaps,
    masks: &TsoFlagMasks,
    headers: &mut [u8],
    mut emit: E,
) -> Result<TxPlan, ErrorCode> {
    let plan = validate_tx_request(req, frame, frame.len() as u32, caps)?;
    if req.tso {
        tso::segment_split(frame, req, &plan, masks, headers, emit);
    } else {
        if plan.checksummed {
            tx_csum::insert(frame, req);
        }
        emit(frame, &[]);
    }
    Ok(plan)
}

/// [`process_split`] for a TSO request whose payload is read segment by segment (see
/// [`tso::segment_from`]): `prefix` holds the request's first bytes, at least its headers (all
/// of it if shorter than [`tso::HEADER_SCRATCH`]), `frame_len` its whole length. Validation
/// reads the headers only, so the outcome is [`process_split`]'s on the gathered request.
///
/// A request without TSO fails with [`ErrorCode::BadFlags`] (callers gather those whole); a
/// payload chunk `payload` cannot read stops the request with [`ErrorCode::DmaFault`], after
/// the segments before it.
pub fn process_tso_from<P: tso::PayloadSource + ?Sized, E: FnMut(&[u8], &[u8])>(
    prefix: &[u8],
    frame_len: u32,
    req: &TxOffloadRequest,
    caps: &DeviceCaps,
    masks: &TsoFlagMasks,
    payload: &mut P,
    emit: E,
) -> Result<TxPlan, ErrorCode> {
    if !req.tso {
        return Err(ErrorCode::BadFlags);
    }
    let plan = validate_tx_request(req, prefix, frame_len, caps)?;
    let mut headers = [0u8; tso::HEADER_SCRATCH];
    tso::segment_from(prefix, req, &plan, masks, &mut headers, payload, emit)
        .map_err(|_| ErrorCode::DmaFault)?;
    Ok(plan)
}
