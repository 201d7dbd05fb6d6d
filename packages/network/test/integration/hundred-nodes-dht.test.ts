import { describeHundredNodes } from './hundredNodes.js'

describeHundredNodes('dht')
