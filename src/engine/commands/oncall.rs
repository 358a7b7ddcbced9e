//! `!incident oncall [override <person> <from> <to>]`: who is on call, or an override.

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::command::OncallOverride;
use crate::store::StoreError;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    set: Option<OncallOverride>,
) -> Result<Decision, EngineError> {
    let cal = &e.settings.calendar;
    let now = e.clock.now();
    if e.settings.paging.rotations.is_empty() {
        let text = "No on-call rotation is configured (add a [[rotation]] to the config).";
        e.reply(ctx, buf, None, text.into()).await?;
        return Ok(Decision::Command("oncall"));
    }
    let text = match set {
        None => {
            let mut lines = Vec::new();
            for r in &e.settings.paging.rotations {
                if let Some((cur, next, _)) = e.on_call(Some(&r.name), now, buf.tx).await? {
                    lines.push(render::on_call(cal, &r.name, &cur, &next));
                }
            }
            lines.join("\n")
        }
        Some(o) => match add_override(e, ctx, &o, buf).await? {
            Ok(t) | Err(t) => t,
        },
    };
    e.reply(ctx, buf, None, text).await?;
    Ok(Decision::Command("oncall"))
}

async fn add_override(
    e: &Engine,
    ctx: &Ctx<'_>,
    o: &OncallOverride,
    buf: &mut TxBuffer<'_>,
) -> Result<Result<String, String>, StoreError> {
    let cal = &e.settings.calendar;
    let Some(person) = e.settings.directory.find(&o.person) else {
        return Ok(Err(render::not_in_directory(&o.person)));
    };
    let (from, to) = match (cal.parse_instant(&o.from), cal.parse_instant(&o.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(err), _) | (_, Err(err)) => return Ok(Err(format!("{err}. Nothing was changed."))),
    };
    if to <= from {
        return Ok(Err(render::override_backwards(cal, from, to)));
    }
    let Some(r) = e.settings.paging.rotations.first() else {
        return Ok(Err("No on-call rotation is configured.".into()));
    };
    buf.tx
        .add_oncall_override(&crate::store::OncallOverride {
            rotation: r.name.clone(),
            person: person.name.clone(),
            starts_at: from,
            ends_at: to,
            created_by: ctx.actor.key.clone(),
            created_at: buf.now,
        })
        .await?;
    tracing::info!(rotation = %r.name, person = %person.name, %from, %to, by = %ctx.actor.key, "on-call override added");
    let text = render::override_added(cal, &person.name, &r.name, (from, to), &ctx.actor.display);
    Ok(Ok(text))
}
