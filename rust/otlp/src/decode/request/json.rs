use super::{Budget, DecodeError};
use crate::model::{LogRecord, ResourceMetrics, SpanData};
pub(super) fn traces(_: &[u8], _: &mut Budget) -> Result<Vec<SpanData>, DecodeError> { todo!() }
pub(super) fn metrics(_: &[u8], _: &mut Budget) -> Result<Vec<ResourceMetrics>, DecodeError> { todo!() }
pub(super) fn logs(_: &[u8], _: &mut Budget) -> Result<Vec<LogRecord>, DecodeError> { todo!() }
