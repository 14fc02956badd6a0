//! The operator commands for proven sectors (`venus-seal-sector-manager
//! sectors expiring|extend|terminate`): clap definitions, running them
//! against a manager's admin API, and printing the answers.

use clap::Subcommand;
use venus_seal_core::lifecycle::{ExpiringSectors, LifecyclePlan};
use venus_seal_core::{ActorId, ChainEpoch, SectorNumber};

use super::admin_client;
use crate::runtime::ApiArgs;

/// Epochs in a day on mainnet and calibnet (30-second epochs).
pub const EPOCHS_PER_DAY: ChainEpoch = 2880;

/// The most sectors one command names (a typo like `1-10000000` is an
/// error, not a ten-million-entry message).
const MAX_SECTORS: u64 = 100_000;

/// Sector lifecycle subcommands (flattened into `sectors`).
#[derive(Subcommand, Debug)]
pub enum LifecycleCommand {
    /// List the miner's sectors on chain that expire soon, soonest first
    /// (sectors sealed elsewhere included).
    Expiring {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// How far ahead to look, in days of 2880 epochs.
        #[arg(long, default_value_t = 60)]
        within_days: i64,
        /// How far ahead to look, in epochs (instead of --within-days).
        #[arg(long)]
        within_epochs: Option<ChainEpoch>,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Extend proven sectors to a later expiration with one
    /// ExtendSectorExpiration2 message. Sectors the chain would refuse
    /// (faulty, gone, already expiring later) are left out and listed.
    Extend {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sectors: numbers and ranges, e.g. 1,2,10-20.
        #[arg(long, value_parser = parse_sector_list)]
        sectors: SectorList,
        /// The epoch they expire at afterwards.
        #[arg(long)]
        new_expiration: ChainEpoch,
        /// Print the message's partitions and what is left out; send
        /// nothing.
        #[arg(long)]
        dry_run: bool,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Terminate proven sectors early with one TerminateSectors message:
    /// the miner pays the termination fee and loses their power. Without
    /// --really-do-it, prints what would be sent.
    Terminate {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sectors: numbers and ranges, e.g. 1,2,10-20.
        #[arg(long, value_parser = parse_sector_list)]
        sectors: SectorList,
        /// Send the message (otherwise a dry run).
        #[arg(long)]
        really_do_it: bool,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Sector numbers from the command line, ascending, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorList(pub Vec<SectorNumber>);

/// Parses `1,2,10-20` (numbers and inclusive ranges, comma-separated).
///
/// ```
/// use venus_seal::sector_manager::lifecycle_cli::parse_sector_list;
/// let list = parse_sector_list("7,1-3,2").unwrap();
/// assert_eq!(list.0.iter().map(|n| n.0).collect::<Vec<_>>(), vec![1, 2, 3, 7]);
/// assert!(parse_sector_list("5-2").is_err());
/// ```
pub fn parse_sector_list(text: &str) -> Result<SectorList, String> {
    let mut numbers = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|e| format!("sector number {s:?} in {text:?}: {e}"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(format!("range {part:?} runs backwards"));
        }
        if (numbers.len() as u64).saturating_add(last - first + 1) > MAX_SECTORS {
            return Err(format!(
                "{text:?} names more than {MAX_SECTORS} sectors: split the command"
            ));
        }
        numbers.extend((first..=last).map(SectorNumber));
    }
    numbers.sort();
    numbers.dedup();
    Ok(SectorList(numbers))
}

impl LifecycleCommand {
    /// Runs the command against the manager `api` names; `name` is
    /// recorded in the token it signs.
    pub async fn run(self, name: &str) -> anyhow::Result<()> {
        match self {
            LifecycleCommand::Expiring {
                miner,
                within_days,
                within_epochs,
                api,
            } => {
                let within = within_epochs.unwrap_or(within_days * EPOCHS_PER_DAY);
                let expiring = admin_client(&api, name)?
                    .sectors_expiring(miner, within)
                    .await?;
                print!("{}", expiring_table(&expiring, within));
            }
            LifecycleCommand::Extend {
                miner,
                sectors,
                new_expiration,
                dry_run,
                api,
            } => {
                let plan = admin_client(&api, name)?
                    .extend_sectors(miner, &sectors.0, new_expiration, dry_run)
                    .await?;
                print!("{}", plan_text("extend", &plan));
            }
            LifecycleCommand::Terminate {
                miner,
                sectors,
                really_do_it,
                api,
            } => {
                let plan = admin_client(&api, name)?
                    .terminate_sectors(miner, &sectors.0, !really_do_it)
                    .await?;
                print!("{}", plan_text("terminate", &plan));
                if !really_do_it {
                    println!("(dry run: add --really-do-it to send it)");
                }
            }
        }
        Ok(())
    }
}

/// The `sectors expiring` table: number, expiration, how far away, proof,
/// activation.
pub fn expiring_table(expiring: &ExpiringSectors, within: ChainEpoch) -> String {
    let mut out = format!(
        "{:>10} {:>12} {:>10} {:<22} {:>12}\n",
        "SECTOR", "EXPIRATION", "IN DAYS", "PROOF", "ACTIVATION"
    );
    for s in &expiring.sectors {
        let days = (s.expiration - expiring.head) as f64 / EPOCHS_PER_DAY as f64;
        out.push_str(&format!(
            "{:>10} {:>12} {:>10.1} {:<22} {:>12}\n",
            s.number.0,
            s.expiration,
            days,
            s.seal_proof.to_string(),
            s.activation
        ));
    }
    out.push_str(&format!(
        "{} sectors expire within {within} epochs of head {}\n",
        expiring.sectors.len(),
        expiring.head
    ));
    out
}

/// What an extension or termination sent (or would send): the partitions,
/// the sectors left out and why, the message.
pub fn plan_text(action: &str, plan: &LifecyclePlan) -> String {
    let mut out = String::new();
    let to = plan
        .new_expiration
        .map(|e| format!(" to epoch {e}"))
        .unwrap_or_default();
    for p in &plan.partitions {
        let sectors: Vec<String> = p.sectors.iter().map(|n| n.0.to_string()).collect();
        out.push_str(&format!(
            "{action}{to}: deadline {} partition {}: sectors {}\n",
            p.deadline,
            p.partition,
            sectors.join(",")
        ));
    }
    for l in &plan.left_out {
        out.push_str(&format!("left out: sector {}: {}\n", l.number.0, l.reason));
    }
    match (&plan.fee, &plan.fee_error) {
        (Some(f), error) => {
            out.push_str(&format!(
                "gas: at most {} FIL (limit {}, fee cap {} attoFIL, premium {} attoFIL)\n",
                crate::alerts::fil(f.max()),
                f.gas_limit,
                f.fee_cap,
                f.premium
            ));
            if let Some(e) = error {
                out.push_str(&format!("the node could not run it: {e}\n"));
            }
        }
        (None, Some(e)) => out.push_str(&format!("gas: the node could not price it: {e}\n")),
        (None, None) => out.push_str("gas: not priced (the sender cannot say before sending)\n"),
    }
    if let Some(burn) = plan.burn {
        out.push_str(&format!(
            "burned from the miner's balance: {} FIL (as the node ran it)\n",
            crate::alerts::fil(burn)
        ));
    }
    if plan.new_expiration.is_some() {
        // builtin-actors `extend_sector_expiration_inner`: "the pledge
        // delta is expected to be zero, since pledge is not re-calculated
        // for the extension"; power changes only when claims are dropped,
        // which this manager never does.
        out.push_str(
            "pledge: unchanged (the actors do not recalculate a sector's pledge when it is \
             extended; every FIL+ claim is kept, so its power stays too)\n",
        );
    }
    match &plan.message {
        Some(m) => out.push_str(&format!(
            "{} sectors of {} in message {}\n",
            plan.sectors().count(),
            plan.miner,
            m.0
        )),
        None => out.push_str(&format!(
            "{} sectors of {} would go in one message; nothing sent\n",
            plan.sectors().count(),
            plan.miner
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Vec<u64> {
        parse_sector_list(text)
            .unwrap()
            .0
            .iter()
            .map(|n| n.0)
            .collect()
    }

    /// The plan as printed: the gas a dry run would pay, or why it was not
    /// priced.
    #[test]
    fn a_plan_says_what_its_gas_costs() {
        use venus_seal_core::chain::{MessageFee, SectorsDeclaration};
        use venus_seal_core::{ActorId, SectorNumber, TokenAmount};
        let mut plan = LifecyclePlan {
            miner: ActorId(1000),
            partitions: vec![SectorsDeclaration {
                deadline: 3,
                partition: 0,
                sectors: vec![SectorNumber(7)],
            }],
            new_expiration: Some(90_000),
            left_out: Vec::new(),
            message: None,
            fee: Some(MessageFee {
                gas_limit: 3_000_000,
                fee_cap: TokenAmount(200_000),
                premium: TokenAmount(5_000),
            }),
            fee_error: None,
            burn: None,
        };
        let text = plan_text("extend", &plan);
        assert!(text.contains("pledge: unchanged"), "{text}");
        assert!(
            text.contains("gas: at most 0.0000006 FIL (limit 3000000, fee cap 200000 attoFIL, premium 5000 attoFIL)"),
            "{text}"
        );
        assert!(
            text.contains("would go in one message; nothing sent"),
            "{text}"
        );
        plan.fee_error = Some("StateCall: exit 16".into());
        assert!(
            plan_text("terminate", &plan).contains("the node could not run it: StateCall: exit 16"),
            "a failed run shows beside the gas"
        );
        plan.fee = None;
        plan.fee_error = Some("exit 16".into());
        assert!(plan_text("extend", &plan).contains("gas: the node could not price it: exit 16"));
        plan.fee_error = None;
        assert!(plan_text("extend", &plan).contains("gas: not priced"));
        plan.burn = Some(venus_seal_core::TokenAmount::from_whole_fil(2));
        assert!(plan_text("terminate", &plan)
            .contains("burned from the miner's balance: 2 FIL (as the node ran it)"));
    }

    #[test]
    fn sector_lists_take_numbers_and_ranges() {
        assert_eq!(list("5"), vec![5]);
        assert_eq!(list(" 3 , 1-2,2 "), vec![1, 2, 3]);
        assert_eq!(list("0-0"), vec![0]);
        for (bad, why) in [
            ("", "sector number \"\""),
            ("1,x", "sector number \"x\""),
            ("9-3", "runs backwards"),
            ("1-", "sector number \"\""),
            ("0-100000", "more than 100000"),
        ] {
            let e = parse_sector_list(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
