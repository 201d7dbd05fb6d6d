import { describeHundredNodes } from './hundredNodes.js'

describeHundredNodes('tracker')
