//! The order fulfilment domain: Order, Inventory and Payment aggregates, and the fulfilment
//! saga that reserves stock, takes the payment and ships, and undoes what it did (stock
//! released, then the order cancelled) when the payment fails, is refused, or never answers.
//! Shared by the example and the saga tests.

use std::time::Duration;

use eventsmith::process::Steps;
use eventsmith::{Command, Event, aggregate, saga};
use serde::{Deserialize, Serialize};

/// How long the saga waits for the payment provider's answer.
pub(crate) const PAYMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The most one payment may be.
pub(crate) const PAYMENT_LIMIT: u64 = 10_000;

// Events.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.order_placed")]
pub(crate) struct OrderPlaced {
    pub(crate) order: String,
    pub(crate) item: String,
    pub(crate) quantity: u32,
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.order_shipped")]
pub(crate) struct OrderShipped {
    pub(crate) order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.order_cancelled")]
pub(crate) struct OrderCancelled {
    pub(crate) order: String,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.stock_added")]
pub(crate) struct StockAdded {
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.stock_reserved")]
pub(crate) struct StockReserved {
    pub(crate) order: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.stock_released")]
pub(crate) struct StockReleased {
    pub(crate) order: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.payment_requested")]
pub(crate) struct PaymentRequested {
    pub(crate) order: String,
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.payment_succeeded")]
pub(crate) struct PaymentSucceeded {
    pub(crate) order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "shop.payment_failed")]
pub(crate) struct PaymentFailed {
    pub(crate) order: String,
    pub(crate) reason: String,
}

// Commands. Those a saga sends are stored before they are sent: they serialize.

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct PlaceOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) item: String,
    pub(crate) quantity: u32,
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct ShipOrder {
    #[command(id)]
    pub(crate) order: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct CancelOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct AddStock {
    #[command(id)]
    pub(crate) item: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct ReserveStock {
    #[command(id)]
    pub(crate) item: String,
    pub(crate) order: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct ReleaseStock {
    #[command(id)]
    pub(crate) item: String,
    pub(crate) order: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct RequestPayment {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) amount: u64,
}

/// The payment provider's answer, as its webhook would deliver it.
#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct SettlePayment {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) approved: bool,
}

// Errors.

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum OrderError {
    #[error("the order exists already")]
    Exists,
    #[error("the order is not open")]
    NotOpen,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum InventoryError {
    #[error("only {available} in stock, {asked} asked")]
    OutOfStock { available: u32, asked: u32 },
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum PaymentError {
    #[error("{amount} is over the limit of {PAYMENT_LIMIT}")]
    OverLimit { amount: u64 },
    #[error("no payment was requested, or it was settled")]
    NotPending,
}

// Aggregates.

/// An order: placed, then shipped or cancelled.
#[derive(Debug, Default)]
pub(crate) struct Order {
    pub(crate) placed: bool,
    pub(crate) shipped: bool,
    pub(crate) cancelled: bool,
}

#[aggregate]
impl Order {
    #[handle]
    fn place(&self, cmd: PlaceOrder) -> Result<OrderPlaced, OrderError> {
        if self.placed {
            return Err(OrderError::Exists);
        }
        Ok(OrderPlaced {
            order: cmd.order,
            item: cmd.item,
            quantity: cmd.quantity,
            amount: cmd.amount,
        })
    }

    #[handle]
    fn ship(&self, cmd: ShipOrder) -> Result<OrderShipped, OrderError> {
        if !self.placed || self.shipped || self.cancelled {
            return Err(OrderError::NotOpen);
        }
        Ok(OrderShipped { order: cmd.order })
    }

    #[handle]
    fn cancel(&self, cmd: CancelOrder) -> Result<OrderCancelled, OrderError> {
        if !self.placed || self.shipped || self.cancelled {
            return Err(OrderError::NotOpen);
        }
        Ok(OrderCancelled {
            order: cmd.order,
            reason: cmd.reason,
        })
    }

    #[apply]
    fn placed(&mut self, _event: &OrderPlaced) {
        self.placed = true;
    }

    #[apply]
    fn shipped(&mut self, _event: &OrderShipped) {
        self.shipped = true;
    }

    #[apply]
    fn cancelled(&mut self, _event: &OrderCancelled) {
        self.cancelled = true;
    }
}

/// The stock of one item.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    pub(crate) available: u32,
    pub(crate) reserved: u32,
}

#[aggregate]
impl Inventory {
    #[handle]
    fn add(&self, cmd: AddStock) -> StockAdded {
        StockAdded {
            quantity: cmd.quantity,
        }
    }

    #[handle]
    fn reserve(&self, cmd: ReserveStock) -> Result<StockReserved, InventoryError> {
        if cmd.quantity > self.available {
            return Err(InventoryError::OutOfStock {
                available: self.available,
                asked: cmd.quantity,
            });
        }
        Ok(StockReserved {
            order: cmd.order,
            quantity: cmd.quantity,
        })
    }

    #[handle]
    fn release(&self, cmd: ReleaseStock) -> StockReleased {
        StockReleased {
            order: cmd.order,
            quantity: cmd.quantity,
        }
    }

    #[apply]
    fn added(&mut self, event: &StockAdded) {
        self.available += event.quantity;
    }

    #[apply]
    fn reserved(&mut self, event: &StockReserved) {
        self.available -= event.quantity;
        self.reserved += event.quantity;
    }

    #[apply]
    fn released(&mut self, event: &StockReleased) {
        self.available += event.quantity;
        self.reserved -= event.quantity;
    }
}

/// The payment of one order, at an outside provider that answers later (or never).
#[derive(Debug, Default)]
pub(crate) struct Payment {
    pub(crate) pending: bool,
    pub(crate) settled: bool,
}

#[aggregate]
impl Payment {
    #[handle]
    fn request(&self, cmd: RequestPayment) -> Result<PaymentRequested, PaymentError> {
        if cmd.amount > PAYMENT_LIMIT {
            return Err(PaymentError::OverLimit { amount: cmd.amount });
        }
        Ok(PaymentRequested {
            order: cmd.order,
            amount: cmd.amount,
        })
    }

    #[handle]
    fn settle(
        &self,
        cmd: SettlePayment,
    ) -> Result<(Option<PaymentSucceeded>, Option<PaymentFailed>), PaymentError> {
        if !self.pending || self.settled {
            return Err(PaymentError::NotPending);
        }
        Ok(if cmd.approved {
            (Some(PaymentSucceeded { order: cmd.order }), None)
        } else {
            let reason = "declined by the provider".to_owned();
            (
                None,
                Some(PaymentFailed {
                    order: cmd.order,
                    reason,
                }),
            )
        })
    }

    #[apply]
    fn requested(&mut self, _event: &PaymentRequested) {
        self.pending = true;
    }

    #[apply]
    fn succeeded(&mut self, _event: &PaymentSucceeded) {
        self.settled = true;
    }

    #[apply]
    fn failed(&mut self, _event: &PaymentFailed) {
        self.settled = true;
    }
}

// The saga.

/// The deadline for the payment provider's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PaymentTimeout {
    pub(crate) order: String,
}

/// One order on its way: what was done, so that it can be undone in reverse.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Fulfilment {
    pub(crate) order: String,
    pub(crate) item: String,
    pub(crate) quantity: u32,
    pub(crate) amount: u64,
    pub(crate) reserved: bool,
    /// Undoing has begun: a second reason to undo (a decline after the timeout fired, say)
    /// undoes nothing twice.
    pub(crate) compensating: bool,
}

impl Fulfilment {
    /// Undoes what was done, latest first: the reservation, then the order; once.
    fn compensate(&mut self, reason: &str) -> Option<(Option<ReleaseStock>, CancelOrder)> {
        if std::mem::replace(&mut self.compensating, true) {
            return None;
        }
        let release = self.reserved.then(|| ReleaseStock {
            item: self.item.clone(),
            order: self.order.clone(),
            quantity: self.quantity,
        });
        let cancel = CancelOrder {
            order: self.order.clone(),
            reason: reason.to_owned(),
        };
        Some((release, cancel))
    }
}

#[saga(name = "shop.fulfilment")]
impl Fulfilment {
    #[start(key = order)]
    fn placed(&mut self, event: &OrderPlaced) -> ReserveStock {
        self.order = event.order.clone();
        self.item = event.item.clone();
        self.quantity = event.quantity;
        self.amount = event.amount;
        ReserveStock {
            item: event.item.clone(),
            order: event.order.clone(),
            quantity: event.quantity,
        }
    }

    #[rejected]
    fn out_of_stock(
        &mut self,
        _command: &ReserveStock,
        error: &InventoryError,
    ) -> Option<CancelOrder> {
        self.compensate(&error.to_string())
            .map(|(_, cancel)| cancel)
    }

    #[on(key = order)]
    fn reserved(&mut self, _event: &StockReserved, steps: &mut Steps<Self>) -> RequestPayment {
        self.reserved = true;
        steps.schedule(
            PAYMENT_TIMEOUT,
            PaymentTimeout {
                order: self.order.clone(),
            },
        );
        RequestPayment {
            order: self.order.clone(),
            amount: self.amount,
        }
    }

    #[rejected]
    fn payment_refused(
        &mut self,
        _command: &RequestPayment,
        error: &PaymentError,
        steps: &mut Steps<Self>,
    ) -> Option<(Option<ReleaseStock>, CancelOrder)> {
        steps.cancel::<PaymentTimeout>();
        self.compensate(&error.to_string())
    }

    #[on(key = order)]
    fn paid(&mut self, _event: &PaymentSucceeded, steps: &mut Steps<Self>) -> Option<ShipOrder> {
        steps.cancel::<PaymentTimeout>();
        // Paid after the undoing began: the order is being cancelled (a refund would go here).
        (!self.compensating).then(|| ShipOrder {
            order: self.order.clone(),
        })
    }

    #[on(key = order)]
    fn declined(
        &mut self,
        event: &PaymentFailed,
        steps: &mut Steps<Self>,
    ) -> Option<(Option<ReleaseStock>, CancelOrder)> {
        steps.cancel::<PaymentTimeout>();
        self.compensate(&event.reason)
    }

    #[deadline]
    fn payment_timed_out(
        &mut self,
        _deadline: &PaymentTimeout,
    ) -> Option<(Option<ReleaseStock>, CancelOrder)> {
        self.compensate("the payment provider did not answer in time")
    }

    #[end(key = order)]
    fn shipped(&mut self, _event: &OrderShipped) {}

    #[end(key = order)]
    fn cancelled(&mut self, _event: &OrderCancelled) {}
}
