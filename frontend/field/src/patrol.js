// Patrol track (巡查轨迹): offered only when the server takes "track" records in a batch
// (config.batch_kinds). Filled in when the server side lands.
export function installPatrol() {}
