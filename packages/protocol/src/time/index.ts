export { sleep, systemClock, type Clock, type Timer, type TimerOptions } from './Clock.js'
export { ManualClock } from './ManualClock.js'
