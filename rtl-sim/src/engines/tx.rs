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
    let plan = validate_tx_request(req, frame, frame.len() as u32, caps)?;
    if req.tso {
        tso::segment(frame, req, &plan, masks, scratch, emit);
    } else {
        if plan.checksummed {
            tx_csum::insert(frame, req);
        }
        emit(frame);
    }
    Ok(plan)
}
